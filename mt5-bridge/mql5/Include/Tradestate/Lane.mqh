//+------------------------------------------------------------------+
//|                                          Tradestate/Lane.mqh     |
//| A lane's name, its exclusive lock, and the small file helpers    |
//| the queue, the seq reservation and the open-ticket set share.    |
//|                                                                  |
//| One lane = one program reporting as one instance id. Its files   |
//| live in MQL5\Files\Tradestate\<id>.<lane>.<suffix> (CLIENT.md,   |
//| "Lanes and files"). The .lock file is held open without share    |
//| flags while the lane runs, so the terminal itself refuses a      |
//| second FileOpen of it: two copies of one program with one id     |
//| cannot interleave their queue files.                             |
//|                                                                  |
//| Files are read and written as bytes (UTF-8, "\n" line ends) so   |
//| they are the same files the Rust reference client reads.        |
//+------------------------------------------------------------------+
#ifndef TRADESTATE_LANE_MQH
#define TRADESTATE_LANE_MQH

#include "Wire.mqh"

#define TS_QUEUE_DIR     "Tradestate"
#define TS_FILE_LOCK     ".lock"
#define TS_FILE_LOG      ".log"
#define TS_FILE_SEQ      ".seq"
#define TS_FILE_OPEN     ".open"
#define TS_FILE_DEAD     ".dead"
//--- Library 1.0 files of an instance, adopted by its first lane to start.
#define TS_LEGACY_QUEUE  ".queue"
#define TS_LEGACY_SEQ    ".seq"
#define TS_LANE_MAX_LEN  32

//--- A valid lane name: 1..32 of letters, digits, '_' and '-'.
bool TsValidLane(const string lane)
  {
   int length=StringLen(lane);
   if(length<1 || length>TS_LANE_MAX_LEN)
      return(false);
   for(int i=0;i<length;i++)
     {
      ushort c=StringGetCharacter(lane,i);
      if(!((c>='a' && c<='z') || (c>='A' && c<='Z') || (c>='0' && c<='9') || c=='_' || c=='-'))
         return(false);
     }
   return(true);
  }

//--- The default lane: the program's name, other characters as '_', at most 32 of them.
string TsDefaultLane(void)
  {
   string name=MQLInfoString(MQL_PROGRAM_NAME);
   if(StringLen(name)>TS_LANE_MAX_LEN)
      name=StringSubstr(name,0,TS_LANE_MAX_LEN);
   int length=StringLen(name);
   for(int i=0;i<length;i++)
     {
      ushort c=StringGetCharacter(name,i);
      if(!((c>='a' && c<='z') || (c>='A' && c<='Z') || (c>='0' && c<='9') || c=='_' || c=='-'))
         StringSetCharacter(name,i,(ushort)'_');
     }
   return(length>0 ? name : "lane");
  }

//--- MQL5\Files\Tradestate\<id>.<lane>
string TsLanePrefix(const string instance_id,const string lane)
  {
   return(TS_QUEUE_DIR+"\\"+instance_id+"."+lane);
  }

//+------------------------------------------------------------------+
//| Whole-file helpers                                               |
//+------------------------------------------------------------------+

//--- The lines of a file (UTF-8, "\n" or "\r\n"); false when it cannot be read. A missing file
//--- reads as no lines. The last line may lack its "\n" (a crash cut it): it is returned as is.
bool TsReadLines(const string path,string &lines[],int &count)
  {
   count=0;
   ArrayResize(lines,0);
   if(!FileIsExist(path,0))
      return(true);
   ResetLastError();
   int handle=FileOpen(path,FILE_READ|FILE_BIN|FILE_SHARE_READ|FILE_SHARE_WRITE);
   if(handle==INVALID_HANDLE)
     {
      PrintFormat("Tradestate: cannot read %s (error %d)",path,GetLastError());
      return(false);
     }
   int size=(int)FileSize(handle);
   uchar bytes[];
   int read=(size>0) ? (int)FileReadArray(handle,bytes,0,size) : 0;
   FileClose(handle);
   int start=0;
   for(int i=0;i<=read;i++)
     {
      if(i<read && bytes[i]!='\n')
         continue;
      int end=i;
      if(end>start && bytes[end-1]=='\r')
         end--;
      if(end>start || i<read)
        {
         ArrayResize(lines,count+1,1024);
         lines[count++]=(end>start) ? CharArrayToString(bytes,start,end-start,CP_UTF8) : "";
        }
      start=i+1;
     }
   return(true);
  }

//--- Writes text through a temp file and a rename, so a crash leaves the old or the new file.
bool TsWriteAtomic(const string path,const string text)
  {
   string temp=path+".tmp";
   ResetLastError();
   int handle=FileOpen(temp,FILE_WRITE|FILE_BIN);
   if(handle==INVALID_HANDLE)
     {
      PrintFormat("Tradestate: cannot write %s (error %d)",temp,GetLastError());
      return(false);
     }
   uchar bytes[];
   int count=TsUtf8(text,bytes);
   bool ok=(count==0 || FileWriteArray(handle,bytes,0,count)==(uint)count);
   FileFlush(handle);
   FileClose(handle);
   if(!ok)
     {
      PrintFormat("Tradestate: cannot write %s (error %d)",temp,GetLastError());
      return(false);
     }
   ResetLastError();
   if(!FileMove(temp,0,path,FILE_REWRITE))
     {
      PrintFormat("Tradestate: cannot replace %s (error %d)",path,GetLastError());
      return(false);
     }
   return(true);
  }

//--- Appends one line ("\n" added) to a file, creating it.
bool TsAppendLine(const string path,const string line)
  {
   ResetLastError();
   int handle=FileOpen(path,FILE_READ|FILE_WRITE|FILE_BIN|FILE_SHARE_READ);
   if(handle==INVALID_HANDLE)
     {
      PrintFormat("Tradestate: cannot append to %s (error %d)",path,GetLastError());
      return(false);
     }
   FileSeek(handle,0,SEEK_END);
   uchar bytes[];
   int count=TsUtf8(line+"\n",bytes);
   bool ok=(FileWriteArray(handle,bytes,0,count)==(uint)count);
   FileClose(handle);
   return(ok);
  }

//+------------------------------------------------------------------+
//| The lane lock                                                    |
//+------------------------------------------------------------------+
class TsLaneLock
  {
private:
   int               m_handle;
   string            m_path;

public:
                     TsLaneLock(void) { m_handle=INVALID_HANDLE; }
                    ~TsLaneLock(void) { Release(); }

   //--- Opens <id>.<lane>.lock with no share flag and keeps it open. False (and why) when
   //--- another program holds it: the terminal refuses the open while the other handle lives.
   bool              Take(const string instance_id,const string lane,string &why)
     {
      Release();
      FolderCreate(TS_QUEUE_DIR,0);
      m_path=TsLanePrefix(instance_id,lane)+TS_FILE_LOCK;
      ResetLastError();
      m_handle=FileOpen(m_path,FILE_WRITE|FILE_BIN);
      if(m_handle==INVALID_HANDLE)
        {
         why=StringFormat("another program already reports as '%s' on lane '%s' (MQL5\\Files\\%s is held open, error %d). "
                          "Two copies with one instance id and lane would mix up their queue: remove this copy, "
                          "or give it its own lane with the Lane input (e.g. Lane=%s2)",
                          instance_id,lane,m_path,GetLastError(),lane);
         return(false);
        }
      //--- Who holds it, for whoever opens the folder (the content is not read).
      uchar bytes[];
      int count=TsUtf8(StringFormat("%s holds this lane since %s (local time)\n",MQLInfoString(MQL_PROGRAM_NAME),
                                    TimeToString(TimeLocal(),TIME_DATE|TIME_SECONDS)),bytes);
      FileWriteArray(m_handle,bytes,0,count);
      FileFlush(m_handle);
      return(true);
     }

   void              Release(void)
     {
      if(m_handle!=INVALID_HANDLE)
         FileClose(m_handle);
      m_handle=INVALID_HANDLE;
     }

   bool              Held(void) const { return(m_handle!=INVALID_HANDLE); }
  };

#endif // TRADESTATE_LANE_MQH
//+------------------------------------------------------------------+
