//+------------------------------------------------------------------+
//|                                       Tradestate/Collect.mqh     |
//| Snapshots of the terminal, a position and a closed position as   |
//| TsRecords, with MT5's own names (ACCOUNT_MARGIN_FREE ->          |
//| margin_free, POSITION_PRICE_OPEN -> price_open, ...).            |
//|                                                                  |
//| Times: MT5 reports trade-server time; the contract wants UTC ms, |
//| so server times are shifted by TsServerOffsetSeconds().          |
//+------------------------------------------------------------------+
#ifndef TRADESTATE_COLLECT_MQH
#define TRADESTATE_COLLECT_MQH

#include "Wire.mqh"

//--- Trade server time minus UTC, rounded to 15 minutes (time zones are whole quarter hours).
long TsServerOffsetSeconds(void)
  {
   long offset=(long)TimeTradeServer()-(long)TimeGMT();
   return((long)MathRound(offset/900.0)*900);
  }

long TsUtcMsc(const long server_msc)
  {
   return(server_msc-TsServerOffsetSeconds()*1000);
  }

long TsNowMsc(void)
  {
   return((long)TimeGMT()*1000);
  }

//+------------------------------------------------------------------+
//| Heartbeat: AccountInfo* and TerminalInfo*                         |
//+------------------------------------------------------------------+
bool TsBuildInstance(TsRecord &r,const string ea_version)
  {
   r.Start(TS_KIND_INSTANCE);
   string server=AccountInfoString(ACCOUNT_SERVER);
   string currency=AccountInfoString(ACCOUNT_CURRENCY);
   if(server=="" || currency=="")
     {
      r.error="account not known yet (not logged in)";
      return(false);
     }
   r.Int("time_msc",TsNowMsc());
   r.Int("login",AccountInfoInteger(ACCOUNT_LOGIN));
   r.Text("server",server);
   string company=AccountInfoString(ACCOUNT_COMPANY);
   if(company!="")
      r.Text("company",company);
   r.Text("currency",currency);
   r.Int("leverage",AccountInfoInteger(ACCOUNT_LEVERAGE));
   r.Num("balance",AccountInfoDouble(ACCOUNT_BALANCE));
   r.Num("credit",AccountInfoDouble(ACCOUNT_CREDIT));
   r.Num("equity",AccountInfoDouble(ACCOUNT_EQUITY));
   r.Num("profit",AccountInfoDouble(ACCOUNT_PROFIT));
   r.Num("margin",AccountInfoDouble(ACCOUNT_MARGIN));
   r.Num("margin_free",AccountInfoDouble(ACCOUNT_MARGIN_FREE));
   r.Num("margin_level",AccountInfoDouble(ACCOUNT_MARGIN_LEVEL));
   r.Bool("connected",TerminalInfoInteger(TERMINAL_CONNECTED)!=0);
   r.Bool("trade_allowed",TerminalInfoInteger(TERMINAL_TRADE_ALLOWED)!=0);
   r.Int("ping_us",TerminalInfoInteger(TERMINAL_PING_LAST));
   r.Int("build",TerminalInfoInteger(TERMINAL_BUILD));
   r.Int("positions",PositionsTotal());
   r.Int("orders",OrdersTotal());
   if(ea_version!="")
      r.Text("ea_version",ea_version);
   return(true);
  }

//+------------------------------------------------------------------+
//| Sum of DEAL_COMMISSION over a position's deals                   |
//+------------------------------------------------------------------+
double TsPositionCommission(const long position_id)
  {
   double commission=0.0;
   if(!HistorySelectByPosition(position_id))
      return(0.0);
   int deals=HistoryDealsTotal();
   for(int i=0;i<deals;i++)
     {
      ulong deal=HistoryDealGetTicket(i);
      if(deal>0)
         commission+=HistoryDealGetDouble(deal,DEAL_COMMISSION);
     }
   return(commission);
  }

//+------------------------------------------------------------------+
//| An open position (selects it)                                    |
//+------------------------------------------------------------------+
bool TsBuildOpenTrade(TsRecord &r,const ulong ticket,const double commission)
  {
   r.Start(TS_KIND_TRADE);
   if(!PositionSelectByTicket(ticket))
     {
      r.error="position "+TsULongToString(ticket)+" is not open";
      return(false);
     }
   r.Text("ticket",TsULongToString(ticket));
   r.Int("time_msc",TsUtcMsc(PositionGetInteger(POSITION_TIME_MSC)));
   r.Int("time_update_msc",TsUtcMsc(PositionGetInteger(POSITION_TIME_UPDATE_MSC)));
   r.Text("symbol",PositionGetString(POSITION_SYMBOL));
   r.Text("type",PositionGetInteger(POSITION_TYPE)==POSITION_TYPE_BUY ? "buy" : "sell");
   r.Num("volume",PositionGetDouble(POSITION_VOLUME));
   r.Num("price_open",PositionGetDouble(POSITION_PRICE_OPEN));
   r.Num("price_current",PositionGetDouble(POSITION_PRICE_CURRENT));
   r.Num("sl",PositionGetDouble(POSITION_SL));
   r.Num("tp",PositionGetDouble(POSITION_TP));
   r.Num("profit",PositionGetDouble(POSITION_PROFIT));
   r.Num("swap",PositionGetDouble(POSITION_SWAP));
   r.Num("commission",commission);
   r.Int("magic",PositionGetInteger(POSITION_MAGIC));
   string comment=PositionGetString(POSITION_COMMENT);
   if(comment!="")
      r.Text("comment",comment);
   r.Text("state","open");
   return(true);
  }

//+------------------------------------------------------------------+
//| A closed position from its deals (HistorySelectByPosition)       |
//| ticket: the key the position was reported under while open.      |
//+------------------------------------------------------------------+
bool TsBuildClosedTrade(TsRecord &r,const long position_id,const ulong ticket)
  {
   r.Start(TS_KIND_TRADE);
   if(!HistorySelectByPosition(position_id))
     {
      r.error="no history for position "+IntegerToString(position_id);
      return(false);
     }
   int deals=HistoryDealsTotal();
   long open_msc=0,close_msc=0;
   double in_volume=0,in_value=0,out_volume=0,out_value=0;
   double profit=0,swap=0,commission=0,sl=0,tp=0;
   string symbol="",comment="";
   long magic=0,type=-1;
   for(int i=0;i<deals;i++)
     {
      ulong deal=HistoryDealGetTicket(i);
      if(deal==0)
         continue;
      long entry=HistoryDealGetInteger(deal,DEAL_ENTRY);
      double volume=HistoryDealGetDouble(deal,DEAL_VOLUME);
      double price=HistoryDealGetDouble(deal,DEAL_PRICE);
      long time_msc=HistoryDealGetInteger(deal,DEAL_TIME_MSC);
      profit+=HistoryDealGetDouble(deal,DEAL_PROFIT);
      swap+=HistoryDealGetDouble(deal,DEAL_SWAP);
      commission+=HistoryDealGetDouble(deal,DEAL_COMMISSION);
      if(entry==DEAL_ENTRY_IN)
        {
         if(type<0)
           {
            type=HistoryDealGetInteger(deal,DEAL_TYPE);
            open_msc=time_msc;
            symbol=HistoryDealGetString(deal,DEAL_SYMBOL);
            magic=HistoryDealGetInteger(deal,DEAL_MAGIC);
            comment=HistoryDealGetString(deal,DEAL_COMMENT);
           }
         in_volume+=volume;
         in_value+=volume*price;
        }
      else
         if(entry==DEAL_ENTRY_OUT || entry==DEAL_ENTRY_OUT_BY || entry==DEAL_ENTRY_INOUT)
           {
            out_volume+=volume;
            out_value+=volume*price;
            close_msc=MathMax(close_msc,time_msc);
            sl=HistoryDealGetDouble(deal,DEAL_SL);
            tp=HistoryDealGetDouble(deal,DEAL_TP);
           }
     }
   if(type<0 || out_volume<=0 || in_volume<=0)
     {
      r.error="position "+IntegerToString(position_id)+" has no opening and closing deals in the history";
      return(false);
     }
   double price_open=in_value/in_volume;
   double price_close=out_value/out_volume;
   int digits=(int)SymbolInfoInteger(symbol,SYMBOL_DIGITS);
   if(digits>0)
     {
      //--- averages of several deals: round to the symbol's precision
      price_open=NormalizeDouble(price_open,digits);
      price_close=NormalizeDouble(price_close,digits);
     }
   r.Text("ticket",TsULongToString(ticket));
   r.Int("time_msc",TsUtcMsc(open_msc));
   r.Int("time_update_msc",TsUtcMsc(close_msc));
   r.Text("symbol",symbol);
   r.Text("type",type==DEAL_TYPE_BUY ? "buy" : "sell");
   r.Num("volume",in_volume);
   r.Num("price_open",price_open);
   r.Num("price_current",price_close);
   r.Num("sl",sl);
   r.Num("tp",tp);
   r.Num("profit",profit);
   r.Num("swap",swap);
   r.Num("commission",commission);
   r.Int("magic",magic);
   if(comment!="")
      r.Text("comment",comment);
   r.Text("state","closed");
   r.Int("time_close_msc",TsUtcMsc(close_msc));
   r.Num("price_close",price_close);
   return(true);
  }

#endif // TRADESTATE_COLLECT_MQH
//+------------------------------------------------------------------+
