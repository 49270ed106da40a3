//+------------------------------------------------------------------+
//|                                     Tradestate/Transport.mqh     |
//| Sending one batch and reading what became of each update:        |
//|  - TsHttp: POST <url>/v1/ingest with WebRequest (JSON);          |
//|  - TsResp: HSET/XADD pipelined over an MQL5 socket (RESP3 after  |
//|    HELLO 3 AUTH), optionally TLS (SocketTlsHandshake/Send/Read). |
//| Outcome per update: TS_OUT_ACK (a status of TS_ACK_STATUSES:     |
//| leaves the queue), TS_OUT_INVALID (refused as invalid: dropped   |
//| and printed), TS_OUT_RETRY (kept for the next attempt).          |
//+------------------------------------------------------------------+
#ifndef TRADESTATE_TRANSPORT_MQH
#define TRADESTATE_TRANSPORT_MQH

#include "Wire.mqh"

#define TS_OUT_RETRY   0
#define TS_OUT_ACK     1
#define TS_OUT_INVALID 2

//--- The reply statuses that acknowledge an update; any other is resent with the same seq.
//--- spooled (in the gateway's spill log, written to its partition later) and volatile (in a
//--- partition without an append-only file) count too: the gateway has taken the update, so a
//--- resend could add nothing (for a spooled one, only more backlog for a partition already
//--- behind). The Rust reference client acknowledges the same words (ACK_STATUSES;
//--- tests/mql5_source.rs compares them).
#define TS_ACK_STATUSES "stored coalesced stale duplicate spooled volatile"

bool TsAcknowledged(const string status)
  {
   if(status=="" || StringFind(status," ")>=0)
      return(false);
   return(StringFind(" "+TS_ACK_STATUSES+" "," "+status+" ")>=0);
  }

//--- What one attempt at one batch returned.
struct TsSendResult
  {
   int               outcomes[];     // per update of the batch
   long              throttle_ms;    // slow down by this much (success with a hint)
   long              retry_after_ms; // wait at least this long before retrying
   bool              failed;         // something must be retried
   bool              fatal;          // a configuration problem (token, URL allow-list): retry slowly
   bool              too_large;      // 413: send smaller batches
   string            error;
  };

void TsResultReset(TsSendResult &result,const int count)
  {
   ArrayResize(result.outcomes,count);
   ArrayInitialize(result.outcomes,TS_OUT_RETRY);
   result.throttle_ms=0;
   result.retry_after_ms=0;
   result.failed=false;
   result.fatal=false;
   result.too_large=false;
   result.error="";
  }

//+------------------------------------------------------------------+
//| Small JSON readers for the gateway's replies                     |
//+------------------------------------------------------------------+
long TsJsonInt(const string json,const string key,const long fallback)
  {
   int at=StringFind(json,"\""+key+"\":");
   if(at<0)
      return(fallback);
   at+=StringLen(key)+3;
   int end=at;
   while(end<StringLen(json))
     {
      ushort c=StringGetCharacter(json,end);
      if(c<'0' || c>'9')
         break;
      end++;
     }
   return(end>at ? StringToInteger(StringSubstr(json,at,end-at)) : fallback);
  }

//--- The "status" of each entry of "results", in order.
int TsJsonStatuses(const string json,string &statuses[])
  {
   ArrayResize(statuses,0);
   int at=StringFind(json,"\"results\":[");
   int count=0;
   while(at>=0)
     {
      at=StringFind(json,"\"status\":\"",at);
      if(at<0)
         break;
      at+=10;
      int end=StringFind(json,"\"",at);
      if(end<0)
         break;
      ArrayResize(statuses,count+1);
      statuses[count++]=StringSubstr(json,at,end-at);
      at=end;
     }
   return(count);
  }

//--- Retry-After (seconds) from WebRequest's result_headers, in ms; 0 when absent.
long TsRetryAfterMs(const string headers)
  {
   string lower=headers;
   StringToLower(lower);
   int at=StringFind(lower,"retry-after:");
   if(at<0)
      return(0);
   int end=StringFind(lower,"\r\n",at);
   string value=StringSubstr(lower,at+12,end<0 ? -1 : end-at-12);
   StringTrimLeft(value);
   StringTrimRight(value);
   return(StringToInteger(value)*1000);
  }

//+------------------------------------------------------------------+
//| HTTP transport                                                   |
//+------------------------------------------------------------------+
class TsHttp
  {
public:
   string            url;        // e.g. http://10.0.0.5:8080 (no trailing /v1/ingest)
   string            token;
   int               timeout_ms;

   void              Send(const string instance_id,const string &entries[],const int count,TsSendResult &result)
     {
      TsResultReset(result,count);
      string body=TsBatchJson(instance_id,entries,count);
      char data[];
      StringToCharArray(body,data,0,WHOLE_ARRAY,CP_UTF8);
      if(ArraySize(data)>0 && data[ArraySize(data)-1]==0)
         ArrayResize(data,ArraySize(data)-1);
      string headers="Content-Type: application/json\r\nAuthorization: Bearer "+token+"\r\n";
      char reply_bytes[];
      string reply_headers="";
      ResetLastError();
      int status=WebRequest("POST",url+"/v1/ingest",headers,timeout_ms,data,reply_bytes,reply_headers);
      if(status==-1)
        {
         int error=GetLastError();
         result.failed=true;
         if(error==4014) // ERR_FUNCTION_NOT_ALLOWED
           {
            result.fatal=true;
            result.error="WebRequest is not allowed: add "+url+" in Tools > Options > Expert Advisors > 'Allow WebRequest for listed URL' (error 4014)";
           }
         else
            result.error="WebRequest to "+url+" failed, error "+IntegerToString(error);
         return;
        }
      string reply=CharArrayToString(reply_bytes,0,WHOLE_ARRAY,CP_UTF8);
      long retry_after=TsJsonInt(reply,"retry_after_ms",TsRetryAfterMs(reply_headers));
      string statuses[];
      int found=TsJsonStatuses(reply,statuses);
      if((status==200 || status==429 || status==503) && found>0)
        {
         for(int i=0;i<count && i<found;i++)
            if(TsAcknowledged(statuses[i]))
               result.outcomes[i]=TS_OUT_ACK;
            else
               result.failed=true;
         if(found<count)
            result.failed=true;
         result.throttle_ms=TsJsonInt(reply,"throttle_ms",0);
         if(result.failed)
           {
            result.retry_after_ms=retry_after;
            result.error="HTTP "+IntegerToString(status)+": "+StringSubstr(reply,0,300);
           }
         return;
        }
      result.failed=true;
      result.retry_after_ms=retry_after;
      result.error="HTTP "+IntegerToString(status)+": "+StringSubstr(reply,0,300);
      if(status==400)
        {
         //--- "field":"updates[3].volume": that update can never be stored.
         int at=0;
         bool any=false;
         while((at=StringFind(reply,"\"field\":\"updates[",at))>=0)
           {
            at+=17; // past "field":"updates[
            int end=StringFind(reply,"]",at);
            int index=(int)StringToInteger(StringSubstr(reply,at,end-at));
            if(index>=0 && index<count)
              {
               result.outcomes[index]=TS_OUT_INVALID;
               any=true;
              }
           }
         result.failed=!any;
         result.fatal=!any;
        }
      else
         if(status==401 || status==403)
           {
            result.fatal=true;
            result.error="the token is not valid for this terminal (HTTP "+IntegerToString(status)+"): check the Token and InstanceId inputs";
           }
         else
            if(status==413)
               result.too_large=true;
     }
  };

//+------------------------------------------------------------------+
//| RESP replies                                                     |
//+------------------------------------------------------------------+
struct TsReply
  {
   uchar             type;
   string            text;
   long              number;
   bool              nil;
   long              throttle_ms; // >= 0 for the gateway's throttle push
  };

int TsRespLineEnd(const uchar &buf[],const int pos,const int end)
  {
   for(int i=pos;i+1<end;i++)
      if(buf[i]=='\r' && buf[i+1]=='\n')
         return(i);
   return(-1);
  }

//--- The position after the value at pos; -1 when more bytes are needed, -2 when malformed.
int TsRespSkip(const uchar &buf[],const int pos,const int end)
  {
   int line_end=TsRespLineEnd(buf,pos,end);
   if(line_end<0)
      return(-1);
   uchar type=buf[pos];
   long number=StringToInteger(CharArrayToString(buf,pos+1,line_end-pos-1));
   int after=line_end+2;
   if(type=='+' || type=='-' || type==':' || type=='_' || type==',' || type=='#' || type=='(')
      return(after);
   if(type=='$' || type=='=' || type=='!')
     {
      if(number<0)
         return(after);
      if(after+number+2>end)
         return(-1);
      return((int)(after+number+2));
     }
   if(type=='*' || type=='~' || type=='>' || type=='%' || type=='|')
     {
      if(number<0)
         return(after);
      long items=(type=='%' || type=='|') ? number*2 : number;
      int at=after;
      for(long i=0;i<items;i++)
        {
         at=TsRespSkip(buf,at,end);
         if(at<0)
            return(at);
        }
      if(type=='|') // an attribute: the reply follows it
         return(TsRespSkip(buf,at,end));
      return(at);
     }
   return(-2);
  }

//--- Reads the value at pos; returns the next position (-1 incomplete, -2 malformed).
int TsRespRead(const uchar &buf[],const int pos,const int end,TsReply &reply)
  {
   int next=TsRespSkip(buf,pos,end);
   if(next<0)
      return(next);
   int line_end=TsRespLineEnd(buf,pos,end);
   string line=CharArrayToString(buf,pos+1,line_end-pos-1,CP_UTF8);
   reply.type=buf[pos];
   reply.text="";
   reply.number=0;
   reply.nil=false;
   reply.throttle_ms=-1;
   if(reply.type=='$')
     {
      long length=StringToInteger(line);
      if(length<0)
         reply.nil=true;
      else
         if(length>0)
            reply.text=CharArrayToString(buf,line_end+2,(int)length,CP_UTF8);
     }
   else
      if(reply.type=='_' || (reply.type=='*' && StringToInteger(line)<0))
         reply.nil=true;
      else
         if(reply.type==':')
            reply.number=StringToInteger(line);
         else
            if(reply.type=='>')
              {
               //--- >2 $8 throttle :<ms>
               TsReply name;
               int at=TsRespRead(buf,line_end+2,end,name);
               if(at>0 && name.text=="throttle")
                 {
                  TsReply ms;
                  if(TsRespRead(buf,at,end,ms)>0 && ms.type==':')
                     reply.throttle_ms=ms.number;
                 }
              }
            else
               reply.text=line;
   return(next);
  }

//+------------------------------------------------------------------+
//| RESP transport over MQL5 sockets                                 |
//+------------------------------------------------------------------+
class TsResp
  {
private:
   int               m_socket;
   uchar             m_buf[];
   int               m_len;

   bool              WriteAll(const uchar &bytes[],const int count,string &error)
     {
      int sent=0;
      uchar rest[];
      while(sent<count)
        {
         ArrayResize(rest,0);
         ArrayCopy(rest,bytes,0,sent,count-sent);
         ResetLastError();
         int n=tls ? SocketTlsSend(m_socket,rest,(uint)(count-sent)) : SocketSend(m_socket,rest,(uint)(count-sent));
         if(n<=0)
           {
            error="socket send failed, error "+IntegerToString(GetLastError())+" (5273 = ERR_NETSOCKET_IO_ERROR)";
            return(false);
           }
         sent+=n;
        }
      return(true);
     }

   //--- Appends what the socket has; returns the number of bytes, -1 on a broken connection.
   int               ReadAvailable(void)
     {
      uchar chunk[];
      int n=0;
      ResetLastError();
      if(tls)
         n=SocketTlsReadAvailable(m_socket,chunk,65536);
      else
        {
         uint available=SocketIsReadable(m_socket);
         if(available==0)
            return(SocketIsConnected(m_socket) ? 0 : -1);
         n=SocketRead(m_socket,chunk,available,(uint)timeout_ms);
        }
      if(n<0)
         return(-1);
      if(n==0)
         return(SocketIsConnected(m_socket) ? 0 : -1);
      ArrayResize(m_buf,m_len+n,65536);
      ArrayCopy(m_buf,chunk,m_len,0,n);
      m_len+=n;
      return(n);
     }

   void              Consume(const int count)
     {
      uchar rest[];
      if(m_len>count)
         ArrayCopy(rest,m_buf,0,count,m_len-count);
      ArrayResize(m_buf,0);
      m_len=m_len-count;
      if(m_len>0)
         ArrayCopy(m_buf,rest,0,0,m_len);
     }

   //--- Waits for one complete value (until the deadline, in GetTickCount ms).
   int               NextReply(TsReply &reply,const ulong deadline)
     {
      while(true)
        {
         int next=TsRespRead(m_buf,0,m_len,reply);
         if(next==-2)
            return(-2);
         if(next>0)
           {
            Consume(next);
            return(next);
           }
         int n=ReadAvailable();
         if(n<0)
            return(-1);
         if(n==0)
           {
            if(GetTickCount64()>deadline)
               return(-1);
            Sleep(2);
           }
        }
      return(-1);
     }

public:
   string            host;
   uint              port;
   bool              tls;
   int               timeout_ms;

                     TsResp(void) { m_socket=INVALID_HANDLE; m_len=0; tls=false; timeout_ms=5000; }
                    ~TsResp(void) { Close(); }

   void              Close(void)
     {
      if(m_socket!=INVALID_HANDLE)
         SocketClose(m_socket);
      m_socket=INVALID_HANDLE;
      m_len=0;
      ArrayResize(m_buf,0);
     }

   bool              Connect(const string instance_id,const string token,TsSendResult &result)
     {
      Close();
      ResetLastError();
      m_socket=SocketCreate();
      if(m_socket==INVALID_HANDLE)
        {
         result.error="SocketCreate failed, error "+IntegerToString(GetLastError())+" (5271 = ERR_NETSOCKET_TOO_MANY_OPENED)";
         return(false);
        }
      if(!SocketConnect(m_socket,host,port,(uint)timeout_ms))
        {
         int error=GetLastError();
         result.error="cannot connect to "+host+":"+IntegerToString(port)+", error "+IntegerToString(error);
         if(error==4014)
           {
            result.fatal=true;
            result.error+=" (4014: add "+host+" in Tools > Options > Expert Advisors > 'Allow WebRequest for listed URL')";
           }
         else
            result.error+=" (5272 = ERR_NETSOCKET_CANNOT_CONNECT)";
         Close();
         return(false);
        }
      //--- Port 443 is secured by SocketConnect itself; other ports need the handshake.
      if(tls && port!=443 && !SocketTlsHandshake(m_socket,host))
        {
         result.error="TLS handshake with "+host+" failed, error "+IntegerToString(GetLastError())+" (5274 = ERR_NETSOCKET_HANDSHAKE_FAILED)";
         Close();
         return(false);
        }
      string args[5];
      args[0]="HELLO";
      args[1]="3";
      args[2]="AUTH";
      args[3]=instance_id;
      args[4]=token;
      uchar bytes[];
      int count=TsUtf8(TsRespArray(args,5),bytes);
      string error="";
      if(!WriteAll(bytes,count,error))
        {
         result.error=error;
         Close();
         return(false);
        }
      TsReply reply;
      if(NextReply(reply,GetTickCount64()+timeout_ms)<0)
        {
         result.error="no reply to HELLO from "+host;
         Close();
         return(false);
        }
      if(reply.type=='-')
        {
         result.fatal=true;
         result.error="the gateway refused HELLO/AUTH: "+reply.text+": check the Token and InstanceId inputs";
         Close();
         return(false);
        }
      return(true);
     }

   void              Send(const string instance_id,const string token,const string &commands[],const int count,TsSendResult &result)
     {
      TsResultReset(result,count);
      if(m_socket==INVALID_HANDLE || !SocketIsConnected(m_socket))
         if(!Connect(instance_id,token,result))
           {
            result.failed=true;
            return;
           }
      string text="";
      for(int i=0;i<count;i++)
         text+=commands[i];
      uchar bytes[];
      int length=TsUtf8(text,bytes);
      if(!WriteAll(bytes,length,result.error))
        {
         result.failed=true;
         Close();
         return;
        }
      ulong deadline=GetTickCount64()+timeout_ms;
      int replied=0;
      while(replied<count)
        {
         TsReply reply;
         if(NextReply(reply,deadline)<0)
           {
            //--- Unreplied writes are retried on a new connection: a state comes back stale,
            //--- a signal duplicate, so nothing is stored twice.
            result.failed=true;
            result.error="no reply from the gateway in time";
            Close();
            return;
           }
         if(reply.type=='>')
           {
            result.throttle_ms=MathMax(result.throttle_ms,reply.throttle_ms);
            continue;
           }
         if(reply.type=='-')
           {
            if(StringFind(reply.text,"TRYAGAIN")==0)
              {
               result.failed=true;
               result.error=reply.text;
               int at=StringFind(reply.text,"retry in ");
               if(at>=0)
                  result.retry_after_ms=MathMax(result.retry_after_ms,StringToInteger(StringSubstr(reply.text,at+9)));
              }
            else
               if(StringFind(reply.text,"ERR invalid update")==0)
                 {
                  result.outcomes[replied]=TS_OUT_INVALID;
                  result.error=reply.text;
                 }
               else
                 {
                  //--- NOPERM / NOAUTH: the id, token or stream does not match the gateway.
                  result.failed=true;
                  result.fatal=true;
                  result.error=reply.text;
                 }
           }
         else
            result.outcomes[replied]=TS_OUT_ACK; // :n, :0 (stale), +OK, entry id, nil (duplicate); spooled, volatile: as stored
         replied++;
        }
      //--- A throttle push right after the last reply is usually already here.
      TsReply push;
      int next=TsRespRead(m_buf,0,m_len,push);
      while(next>0 && push.type=='>')
        {
         result.throttle_ms=MathMax(result.throttle_ms,push.throttle_ms);
         Consume(next);
         next=TsRespRead(m_buf,0,m_len,push);
        }
      if(result.fatal)
         Close();
     }
  };

#endif // TRADESTATE_TRANSPORT_MQH
//+------------------------------------------------------------------+
